import wagtail
from django.http import HttpResponse
from wagtail.models import Site


def health(request):
    """200 if the database answers one query on a Wagtail table, else 503. No login."""
    try:
        Site.objects.exists()
    except Exception as exc:
        return HttpResponse(f"db error: {type(exc).__name__}\n", status=503, content_type="text/plain")
    return HttpResponse(f"ok wagtail {wagtail.__version__}\n", content_type="text/plain")
