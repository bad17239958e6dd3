"""The ground floor: config, periods and cadences, the model, locks, the SQL loader, privacy, resources."""
