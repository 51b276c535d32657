"""What runs the stages on Ray: the pipeline that starts and places every actor, the actors'
names and facts, files shipped to nodes, metrics and logs."""
