"""Command line: python -m engine <command> ...

Commands are thin: they parse arguments and call the engine's public functions.
"""

from __future__ import annotations

import argparse
import json
import logging
import sys

from engine.constants import AUTO_LANGUAGE
from engine.errors import SonareError
from engine.text import SYMBOLS, phonemize


def _phonemize_command(args: argparse.Namespace) -> int:
    sequence = phonemize(args.text, args.language, add_blank=not args.no_blank)
    result = {
        "segments": [
            {
                "language": segment.language.value,
                "norm_text": segment.cleaned.norm_text,
                "phones": segment.cleaned.phones,
                "tones": segment.cleaned.tones,
                "word2ph": segment.cleaned.word2ph,
            }
            for segment in sequence.segments
        ],
        "phones": [SYMBOLS[index] for index in sequence.phone_ids],
        "phone_ids": sequence.phone_ids,
        "tone_ids": sequence.tone_ids,
        "language_ids": sequence.language_ids,
    }
    json.dump(result, sys.stdout, ensure_ascii=False)
    sys.stdout.write("\n")
    return 0


def build_parser() -> argparse.ArgumentParser:
    """The argparse tree of every command."""
    parser = argparse.ArgumentParser(prog="python -m engine", description=__doc__)
    parser.add_argument("-v", "--verbose", action="store_true", help="log debug messages")
    commands = parser.add_subparsers(dest="command", required=True)

    phonemize_parser = commands.add_parser("phonemize", help="text to 2.2 phones (JSON)")
    phonemize_parser.add_argument("text")
    phonemize_parser.add_argument("--language", default=AUTO_LANGUAGE, help="auto, ZH, JP or EN")
    phonemize_parser.add_argument("--no-blank", action="store_true", help="skip add_blank")
    phonemize_parser.set_defaults(handler=_phonemize_command)
    return parser


def main(argv: list[str] | None = None) -> int:
    """Run one command; SonareErrors become a one-line message and exit code 2."""
    args = build_parser().parse_args(argv)
    logging.basicConfig(
        level=logging.DEBUG if args.verbose else logging.WARNING,
        format="%(levelname)s %(name)s: %(message)s",
    )
    try:
        return args.handler(args)
    except SonareError as error:
        print(f"error: {error}", file=sys.stderr)
        return 2


if __name__ == "__main__":
    sys.exit(main())
