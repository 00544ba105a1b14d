"""Command-line entry point: ``layercfg schema | new | lsp | check``."""

def main(argv=None) -> int:
    return 0
