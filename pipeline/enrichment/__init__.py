"""Event enrichment helpers: user agent -> device, IP -> geo, page/referrer -> path/UTM."""
