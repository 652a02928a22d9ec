"""The domain: tenants, customers, conversations, messages, and the services that change them."""
