// Engine.Qcow2: qcow2 images read and written natively (backing chains, compressed clusters, persistent bitmaps).
