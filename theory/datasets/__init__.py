"""Small published measurement tables shipped with their citations."""
