from tests.smtp_server import smtp_server, smtp_server_with_auth

__all__ = ["smtp_server", "smtp_server_with_auth"]
