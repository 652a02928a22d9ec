"""Who the customer is: loyalty/CRM providers and signed "Message us" links (a later issue)."""
