print("aura-media")
