"""``Authorization: Bearer <api key>`` for the shops' API."""

from drf_spectacular.extensions import OpenApiAuthenticationExtension
from rest_framework import exceptions
from rest_framework.authentication import BaseAuthentication, get_authorization_header
from rest_framework.permissions import BasePermission

from ..models import Shop, ShopAPIKey
from ..services import Actor, api_key_authenticate


class ShopClient:
    """The authenticated caller: a shop acting through one of its keys (``request.user``)."""

    is_authenticated = True
    is_anonymous = False

    def __init__(self, api_key: ShopAPIKey):
        self.api_key = api_key
        self.shop: Shop = api_key.shop

    @property
    def tenant_id(self) -> str:
        """The kernel's name for the shop: events carry it, the event feed filters by it."""
        return str(self.shop.pk)

    @property
    def actor(self) -> Actor:
        return Actor(kind="shop-key", name=self.api_key.prefix)

    def __str__(self) -> str:
        return f"{self.shop.slug} ({self.api_key.prefix})"


class ShopApiKeyAuthentication(BaseAuthentication):
    keyword = b"bearer"

    def authenticate(self, request):
        parts = get_authorization_header(request).split()
        if not parts:
            return None
        if parts[0].lower() != self.keyword or len(parts) != 2:
            raise exceptions.AuthenticationFailed(
                "Malformed Authorization header: send `Authorization: Bearer <api key>`."
            )
        try:
            raw_key = parts[1].decode("ascii")
        except UnicodeDecodeError:
            raise exceptions.AuthenticationFailed("The API key is not valid.") from None
        api_key = api_key_authenticate(raw_key=raw_key)
        if api_key is None:
            raise exceptions.AuthenticationFailed("The API key is invalid, expired or revoked.")
        return ShopClient(api_key), api_key

    def authenticate_header(self, request) -> str:
        return 'Bearer realm="orderflow"'


class IsShopClient(BasePermission):
    def has_permission(self, request, view) -> bool:
        return isinstance(request.user, ShopClient)


class ShopApiKeyScheme(OpenApiAuthenticationExtension):
    target_class = ShopApiKeyAuthentication
    name = "shopApiKey"

    def get_security_definition(self, auto_schema):
        return {
            "type": "http",
            "scheme": "bearer",
            "description": "A shop API key, as printed once by `manage.py create_shop`.",
        }
