"""Stage 1, the cameras: where frames come from (live RTSP or a recording), and the camera actor
that numbers them, applies the frame policy and puts each into Ray's object store once."""
