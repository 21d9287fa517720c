"""Sonare's Telegram bot (python-telegram-bot 22): text or voice in, the trained voice back."""
