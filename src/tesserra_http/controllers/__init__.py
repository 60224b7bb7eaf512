"""One module per API family; each exports the route handlers it adds."""
