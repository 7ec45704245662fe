"""The pages for people, as data: the facts each page shows, read from the store (web/templates render them)."""
