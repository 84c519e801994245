"""Use cases. Each public function is one transaction and writes its audit record in it."""
