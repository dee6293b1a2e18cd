"""Key exchange: negotiation, the methods, and the exchange message flow."""
