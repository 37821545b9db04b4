"""Everything that knows how to call dpone and read what it answers."""
