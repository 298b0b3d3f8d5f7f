"""Generic training machinery: state, loop, parallel (mesh/sharding), checkpoint, writer."""
