"""Linked data for programs: resource descriptions, VoID, dumps and the change feed (pages for people: kgserver/pages)."""
