"""The SPARQL endpoint: policy (refused operations), execution (limits, workers), negotiation, service description."""
