# SELECT * WHERE { ?s ?p ?o }
DROP ALL