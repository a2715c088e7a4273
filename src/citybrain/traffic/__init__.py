"""Smart traffic (智慧交通): networks, SUMO simulation, signal control, green waves, tidal lanes, evaluation."""
