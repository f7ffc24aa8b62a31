"""The pure stages: normalize -> enrich -> sessionize -> stitch. Data in, data out; any state is
passed in and handed back explicitly, so both runtimes (embedded, Faust) call the same code."""
