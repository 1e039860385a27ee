# Read by `flask run` (python-dotenv): local mode with the embedded AWS, no account needed.
FLASK_APP=wsgi
LOCAL_AWS=1
