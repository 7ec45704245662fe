"""LDN-KG server: build, validate, reason over and publish the low-dose naltrexone knowledge graph."""
