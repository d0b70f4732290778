"""/admin/settings: the main settings, SMTP (password masked and kept) and the instance images."""

from __future__ import annotations

import io

from PIL import Image

from piazza.instance.images import images_dir
from piazza.instance.settings import get_setting
from tests.factories import make_collection, outbox, set_setting

FORM = {
    "title": "Our Square",
    "description": "What happens here",
    "instance_timezone": "America/New_York",
    "instance_locale": "it",
    "admin_email": "boss@example.org",
    "collection_in_home": "",
    "allow_registration": "on",
    "enable_report": "on",
}


def setting(db, key: str):
    with db.session(write=False) as s:
        return get_setting(s, key)


def png(width: int = 800, height: int = 200) -> bytes:
    out = io.BytesIO()
    Image.new("RGB", (width, height), "orange").save(out, format="PNG")
    return out.getvalue()


def test_the_page_shows_the_current_settings(as_admin, db):
    set_setting(db, "title", "Shown title")
    make_collection(db, "Concerts")
    page = as_admin.get("/admin/settings").text
    assert 'value="Shown title"' in page and 'value="Europe/Rome"' in page
    assert '<option value="Concerts">Concerts</option>' in page
    assert 'name="allow_anon_event" checked' in page  # on by default
    assert 'name="enable_moderation" checked' not in page


def test_saving_stores_every_setting_and_unchecked_boxes_are_false(as_admin, db):
    make_collection(db, "Concerts")
    response = as_admin.post("/admin/settings", FORM | {"collection_in_home": "Concerts"})
    assert response.status_code == 303 and response.headers["location"] == "/admin/settings?done=settings"
    assert setting(db, "title") == "Our Square"
    assert setting(db, "description") == "What happens here"
    assert setting(db, "instance_timezone") == "America/New_York"
    assert setting(db, "instance_locale") == "it"
    assert setting(db, "admin_email") == "boss@example.org"
    assert setting(db, "collection_in_home") == "Concerts"
    assert setting(db, "allow_registration") is True and setting(db, "enable_report") is True
    assert setting(db, "allow_anon_event") is False and setting(db, "enable_moderation") is False


def test_no_collection_in_home_is_stored_as_null(as_admin, db):
    set_setting(db, "collection_in_home", "Old")
    as_admin.post("/admin/settings", FORM)
    assert setting(db, "collection_in_home") is None


def test_an_unknown_time_zone_is_refused_and_nothing_is_saved(as_admin, db):
    response = as_admin.post("/admin/settings", FORM | {"instance_timezone": "Mars/Olympus_Mons"})
    assert response.status_code == 400
    assert "unknown time zone &#39;Mars/Olympus_Mons&#39;" in response.text
    assert 'value="Mars/Olympus_Mons"' in response.text  # the form keeps what was typed
    assert setting(db, "instance_timezone") == "Europe/Rome"
    assert setting(db, "title") == "Piazza"  # all or nothing


def test_the_settings_api_refuses_an_unknown_time_zone_too(client, db, admin):
    from tests.factories import bearer, make_token

    response = client.post(
        "/api/settings",
        json={"key": "instance_timezone", "value": "Not/AZone"},
        headers=bearer(make_token(db, admin)),
    )
    assert response.status_code == 400 and "unknown time zone" in response.text
    assert setting(db, "instance_timezone") == "Europe/Rome"


def test_an_empty_title_a_bad_admin_email_or_an_unknown_collection_is_refused(as_admin, db):
    assert as_admin.post("/admin/settings", FORM | {"title": " "}).status_code == 400
    assert as_admin.post("/admin/settings", FORM | {"admin_email": "nope"}).status_code == 400
    response = as_admin.post("/admin/settings", FORM | {"collection_in_home": "Ghosts"})
    assert response.status_code == 400 and "no collection named" in response.text
    assert setting(db, "title") == "Piazza"


SMTP_FORM = {
    "host": "mail.example.org",
    "port": "587",
    "user": "me",
    "pass": "s3cret",
    "from": "a@example.org",
}


def test_smtp_settings_are_saved_and_the_password_is_never_shown(as_admin, db):
    response = as_admin.post("/admin/settings/smtp", SMTP_FORM | {"action": "save", "secure": "on"})
    assert response.status_code == 303
    assert setting(db, "smtp") == {
        "host": "mail.example.org",
        "port": 587,
        "secure": True,
        "auth": {"user": "me", "pass": "s3cret"},
        "from": "a@example.org",
    }
    page = as_admin.get("/admin/settings").text
    assert "s3cret" not in page and 'name="pass" value="********"' in page


def test_posting_the_mask_back_keeps_the_stored_password(as_admin, db):
    as_admin.post("/admin/settings/smtp", SMTP_FORM | {"action": "save"})
    as_admin.post("/admin/settings/smtp", SMTP_FORM | {"pass": "********", "host": "smtp.example.org"})
    smtp = setting(db, "smtp")
    assert smtp["host"] == "smtp.example.org" and smtp["auth"]["pass"] == "s3cret"


def test_the_test_mail_button_queues_a_mail_to_the_admin_email(as_admin, db):
    set_setting(db, "admin_email", "boss@example.org")
    response = as_admin.post("/admin/settings/smtp", SMTP_FORM | {"action": "test"})
    assert response.headers["location"] == "/admin/settings?done=smtp-test#smtp"
    assert [mail["recipient"] for mail in outbox(db)] == ["boss@example.org"]


def test_the_test_mail_needs_an_admin_email(as_admin, db):
    response = as_admin.post("/admin/settings/smtp", SMTP_FORM | {"action": "test"})
    assert response.headers["location"] == "/admin/settings?done=smtp-no-admin#smtp"
    assert outbox(db) == []
    assert "set the admin email first" in as_admin.get(response.headers["location"]).text


def test_a_bad_smtp_port_is_shown_with_a_400(as_admin, db):
    response = as_admin.post("/admin/settings/smtp", SMTP_FORM | {"port": "99999"})
    assert response.status_code == 400 and "smtp.port" in response.text
    assert setting(db, "smtp") == {}


def test_uploading_a_logo_stores_a_resized_png(as_admin, db, config, client):
    response = as_admin.post(
        "/admin/settings/image/logo", {"action": "upload"}, files={"image": ("logo.png", png(), "image/png")}
    )
    assert response.status_code == 303
    assert setting(db, "logo") == "logo.png"
    stored = images_dir(config.data_dir) / "logo.png"
    with Image.open(stored) as image:
        assert image.width == 400
    assert client.get("/logo.png").content == stored.read_bytes()


def test_resetting_an_image_goes_back_to_the_default(as_admin, db, config):
    as_admin.post("/admin/settings/image/headerImage", {}, files={"image": ("h.png", png(), "image/png")})
    assert setting(db, "header_image") == "headerimage.png"
    as_admin.post("/admin/settings/image/headerImage", {"action": "reset"}, files={"image": ("", b"")})
    assert setting(db, "header_image") is False
    assert not (images_dir(config.data_dir) / "headerimage.png").exists()


def test_a_file_that_is_not_an_image_is_refused(as_admin, db):
    response = as_admin.post(
        "/admin/settings/image/logo", {}, files={"image": ("x.png", b"not an image", "image/png")}
    )
    assert response.status_code == 400 and "not an image" in response.text
    assert not setting(db, "logo")


def test_an_unknown_image_is_a_404(as_admin):
    response = as_admin.post(
        "/admin/settings/image/favicon", {}, files={"image": ("x.png", png(), "image/png")}
    )
    assert response.status_code == 404


def test_an_editor_cannot_upload_images(as_editor, db):
    response = as_editor.post(
        "/admin/settings/image/logo", {}, files={"image": ("x.png", png(), "image/png")}
    )
    assert response.status_code == 403
    assert not setting(db, "logo")
