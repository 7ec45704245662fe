PREFIX x: <http://{{LISTENER}}/>
LOAD x:data