from django.contrib.auth import authenticate, login, logout
from django.http import JsonResponse
from django.urls import path
from django.views.decorators.http import require_GET, require_POST


def cart(request):
    return request.session.get("cart", [])


@require_GET
def home(request):
    return JsonResponse({"user": request.user.username or None, "cart": cart(request)})


@require_POST
def add_to_cart(request):
    request.session["cart"] = cart(request) + [request.POST.get("item", "")[:100]]
    return JsonResponse({"cart": request.session["cart"]})


@require_POST
def login_view(request):
    user = authenticate(
        request, username=request.POST.get("user", ""), password=request.POST.get("password", "")
    )
    if user is None:
        return JsonResponse({"error": "wrong user or password"}, status=401)
    login(request, user)  # cycle_key(): RENEW, the cart kept
    return JsonResponse({"user": user.username, "cart": cart(request)})


@require_GET
def me(request):
    if not request.user.is_authenticated:
        return JsonResponse({"error": "not logged in"}, status=401)
    return JsonResponse({"user": request.user.username, "cart": cart(request)})


@require_POST
def logout_view(request):
    logout(request)  # flush(): END
    return JsonResponse({"user": None})


urlpatterns = [
    path("", home),
    path("cart", add_to_cart),
    path("login", login_view),
    path("me", me),
    path("logout", logout_view),
]
