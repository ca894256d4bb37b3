"""One module per verb. Each has ``register(subparsers, common)``, which adds its
subcommand and sets ``run(args, ctx) -> exit code`` as the parser's default."""
