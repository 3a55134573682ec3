"""Translation: the `_` of service code, locale selection and building the catalogues."""
