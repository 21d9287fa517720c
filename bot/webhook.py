"""Webhook mode: Telegram POSTs updates to our HTTPS URL instead of us long-polling.

PTB's own run_webhook needs the `webhooks` extra (tornado), which Sonare does not install; this
serves the same endpoint with Starlette and Uvicorn (already installed with Gradio). TLS is
expected to end at a reverse proxy (or the Space's front end) in front of `webhook_port`.
"""

from __future__ import annotations

import asyncio
import hmac
import logging
from json import JSONDecodeError
from urllib.parse import urlsplit

import uvicorn
from starlette.applications import Starlette
from starlette.requests import Request
from starlette.responses import PlainTextResponse, Response
from starlette.routing import Route
from telegram import Update
from telegram.ext import Application

from bot.handlers import STATE_KEY, BotState

logger = logging.getLogger(__name__)

SECRET_HEADER = "X-Telegram-Bot-Api-Secret-Token"


class WebhookServer:
    """The Application plus an HTTP endpoint that feeds its update queue."""

    def __init__(self, application: Application, webhook_url: str) -> None:
        self.application = application
        self.webhook_url = webhook_url
        settings = self._state.settings
        self.secret = settings.webhook_secret
        if not self.secret:
            logger.warning("No TELEGRAM_WEBHOOK_SECRET: anyone who finds the URL can post updates")
        routes = [
            Route(urlsplit(webhook_url).path or "/", self.receive, methods=["POST"]),
            Route("/healthz", self.health, methods=["GET"]),
        ]
        config = uvicorn.Config(
            Starlette(routes=routes),
            host=settings.webhook_listen,
            port=settings.webhook_port,
            log_level="warning",
        )
        self.server = uvicorn.Server(config)

    @property
    def _state(self) -> BotState:
        return self.application.bot_data[STATE_KEY]

    async def receive(self, request: Request) -> Response:
        """One update from Telegram: checked against the secret, then queued."""
        if self.secret and not hmac.compare_digest(
            request.headers.get(SECRET_HEADER, ""), self.secret
        ):
            return PlainTextResponse("forbidden", status_code=403)
        try:
            update = Update.de_json(await request.json(), self.application.bot)
        except (JSONDecodeError, TypeError, KeyError, ValueError):
            return PlainTextResponse("not an update", status_code=400)
        await self.application.update_queue.put(update)
        return Response(status_code=200)

    async def health(self, request: Request) -> Response:
        """For load balancers: 200 once the bot runs."""
        return PlainTextResponse("ok" if self.application.running else "starting")

    async def serve(self) -> None:
        """Start the bot, register the webhook, serve until stopped, shut everything down."""
        application = self.application
        async with application:
            if application.post_init:
                await application.post_init(application)
            await application.bot.set_webhook(
                self.webhook_url, secret_token=self.secret, allowed_updates=Update.ALL_TYPES
            )
            await application.start()
            try:
                await self.server.serve()  # returns on SIGINT/SIGTERM or stop()
            finally:
                await application.stop()
        if application.post_shutdown:
            await application.post_shutdown(application)

    def stop(self) -> None:
        """Ask the server to finish (thread-safe)."""
        self.server.should_exit = True


def run_webhook(application: Application, webhook_url: str, **_: object) -> None:
    """Serve the webhook until interrupted."""
    asyncio.run(WebhookServer(application, webhook_url).serve())
