"""Search by name: documents from the store, the tantivy index beside it, queries, and the index a server keeps current."""
