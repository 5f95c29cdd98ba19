"""Worker exit codes, shared by the worker and whoever supervises it."""

OK = 0
#: Another live worker holds the camera (EX_TEMPFAIL): try later, not a crash.
CAMERA_HELD = 75
#: The worker lost its hold on the camera while recording (force-released, stolen).
LOST_CAMERA = 76
#: Settings or footage storage are wrong; restarting will not help until they are fixed.
BAD_CONFIG = 78
