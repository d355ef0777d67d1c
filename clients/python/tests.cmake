# The Python client's suite (clients/python/tests, unittest): real redis-server, real front from
# the build tree, Debian's /usr/bin/python3 with python3-redis and python3-flask.
add_test(NAME clients.python
         COMMAND /usr/bin/python3 -m unittest discover -s tests -t tests -v
         WORKING_DIRECTORY ${CLIENT_DIR})
set_tests_properties(clients.python PROPERTIES
                     ENVIRONMENT "TEMPEST_BUILD_DIR=${PROJECT_BINARY_DIR}"
                     TIMEOUT 300 LABELS clients)
