"""List any resource path with Debian's python3-kubernetes; prints the list as JSON.

usage: list_objects.py KUBECONFIG PATH   (PATH like /api/v1/namespaces/NS/secrets)
"""
import json
import sys

from kubernetes import config


def main() -> None:
    kubeconfig, path = sys.argv[1], sys.argv[2]
    api = config.new_client_from_config(config_file=kubeconfig)
    # The generic call every typed API of the library makes; "object" keeps the JSON as served.
    listed = api.call_api(path, "GET", auth_settings=["BearerToken"], response_type="object",
                          _return_http_data_only=True)
    print(json.dumps(listed))


if __name__ == "__main__":
    main()
