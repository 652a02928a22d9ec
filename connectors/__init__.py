"""Platform adapters behind one interface; inbox reaches them only through connectors.registry."""
