"""X (Twitter) adapter: DMs and public mentions."""
