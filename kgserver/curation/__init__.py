"""Curation: checking additions against the shapes and the ontology, curators, and the submission gate."""
