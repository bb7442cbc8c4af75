"""AI providers behind one interface; see `base` for the contract and `registry` for lookup."""
