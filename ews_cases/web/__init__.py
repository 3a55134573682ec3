"""Server-rendered pages (German); they call the same services and permission rules as the API."""
