"""GET /.well-known/oauth-authorization-server (RFC 8414)."""


def test_metadata_names_the_issuer_and_endpoints(client, config):
    response = client.get("/.well-known/oauth-authorization-server")
    assert response.status_code == 200
    body = response.json()
    assert body["issuer"] == config.base_url
    assert body["token_endpoint"] == f"{config.base_url}/oauth/token"
    assert body["authorization_endpoint"] == f"{config.base_url}/oauth/authorize"
    assert body["code_challenge_methods_supported"] == ["S256"]
    assert body["authorization_response_iss_parameter_supported"] is True
    assert "password" not in body["grant_types_supported"]
