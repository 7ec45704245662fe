# harmless
LOAD#c
<http://{{LISTENER}}/x>