"""What every HTTP request passes through, below both the API and the pages."""
