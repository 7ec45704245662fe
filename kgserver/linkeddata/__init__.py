"""Linked data for people and programs: resource descriptions, pages, VoID, dumps and the change feed."""
