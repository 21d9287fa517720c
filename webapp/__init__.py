"""The web app's tabs and callbacks; space_app.py wires them into one Gradio Blocks.

Callbacks are plain functions over a `Services` object (webapp.services) so tests call them
without a browser; the tabs hand each one the services of the visitor who asked
(`Services.for_request`, webapp.access). They call `engine` only; engine errors become friendly
messages.
"""
