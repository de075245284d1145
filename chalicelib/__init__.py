"""depistage: COVID-19 antigen test records for pharmacies, handed to SI-DEP."""
