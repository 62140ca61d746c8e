"""Base libraries (基础库): the person and legal-entity libraries assembled from aggregated data."""
