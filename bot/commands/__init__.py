"""What each CLI subcommand does, built on the same services as the bot."""
