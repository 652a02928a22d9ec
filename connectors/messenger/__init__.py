"""Facebook Messenger (Pages) adapter."""
