"""What the menus and toolbar do: open datasets and photos, load and save checkpoints, export.

A mixin of the main window (it uses its bridge, settings, panels and
controller), kept apart because it is the one place that asks the user for
file paths; everything it does with them goes through the bridge or
``export`` (atomic writes).
"""

from __future__ import annotations

from pathlib import Path

from PySide6.QtCore import Slot
from PySide6.QtWidgets import QFileDialog, QMessageBox

from zsl_desktop.app import export
from zsl_desktop.engine.session.spec import DatasetSpec, shipped_checkpoint, shipped_checkpoints


class WindowActions:
    # -- opening things ---------------------------------------------------------------------------------
    def open_builtin(self, small: bool = False) -> bool:
        checkpoints = () if small else (shipped_checkpoint(),)
        return self.open_spec(DatasetSpec(source="builtin", small=small, checkpoints=checkpoints))

    def open_path(
        self, path, fmt: str | None = None, backbone: str | None = None, input_size: int | None = None
    ) -> bool:
        """Open a dataset folder; ``backbone`` (default Lite0) makes its features, at ``input_size``
        (default: the backbone's native size)."""
        from zsl_desktop.engine.backbones import BACKBONES, DEFAULT_BACKBONE, BackboneUnavailable, spec_for

        try:
            spec = spec_for(backbone or DEFAULT_BACKBONE)
        except (BackboneUnavailable, ValueError) as exc:  # a timm backbone without weights: said, not raised
            QMessageBox.warning(self, "Backbone unavailable", str(exc))
            spec = BACKBONES[DEFAULT_BACKBONE]
            input_size = None
        return self.open_spec(
            DatasetSpec(
                source="path",
                path=str(path),
                format=fmt,
                backbone=spec.name,
                input_size=input_size or spec.default_input_size,
            )
        )

    def open_dataset_object(self, dataset, model=None, checkpoints=(), warm_up: bool = False) -> bool:
        """Open an already loaded Dataset (tests, scripting); ``model`` = (method, header, source)."""
        return self.open_spec(
            DatasetSpec(source="object", dataset=dataset, model=model, checkpoints=tuple(checkpoints), warm_up=warm_up)
        )

    def open_spec(self, spec: DatasetSpec) -> bool:
        if self.bridge.busy:
            if self.bridge.long_name == "train":
                answer = QMessageBox.question(
                    self, "Training is running", "Stop the training run and open the dataset?"
                )
                if answer != QMessageBox.Yes:
                    return False
            self.pending_open = spec
            self.bridge.cancel()
            return True
        if spec.model is None and not spec.remembered and spec.use_remembered:
            from dataclasses import replace

            spec = replace(spec, remembered=self.settings.remembered_checkpoints())
        if not self.bridge.open_dataset(spec, warm_up_after_predictions=True):
            return False
        self.image_view.show_message(f"Opening {spec.title}…")
        return True

    @Slot()
    def open_builtin_action(self) -> None:
        self.open_builtin(False)

    def open_dataset_dialog(self, fmt: str | None = None) -> None:
        """Ask for a dataset folder and open it as ``fmt`` (None: detect the format from its files)."""
        path = QFileDialog.getExistingDirectory(self, "Open a dataset folder", self.settings.last_dir("datasets"))
        if path:
            self.settings.set_last_dir("datasets", path)
            self.open_path(path, fmt)

    def add_photos(self, paths) -> None:
        """Files are added at once; a folder among them (dropped) goes through the folder job's progress."""
        paths = [str(p) for p in paths]
        if any(Path(p).is_dir() for p in paths):
            self.controller.add_folder(paths)
        else:
            self.controller.add_photos(paths)

    @Slot()
    def add_photos_dialog(self) -> None:
        files, _ = QFileDialog.getOpenFileNames(
            self,
            "Add your photos",
            self.settings.last_dir("photos"),
            "Images (*.jpg *.jpeg *.png *.bmp *.webp *.tif *.tiff)",
        )
        if files:
            self.settings.set_last_dir("photos", files[0])
            self.add_photos(files)

    @Slot()
    def add_photo_folder_dialog(self) -> None:
        path = QFileDialog.getExistingDirectory(self, "Add a folder of photos", self.settings.last_dir("photos"))
        if path:
            self.settings.set_last_dir("photos", path)
            self.controller.add_folder([path])

    def dragEnterEvent(self, event) -> None:
        if event.mimeData().hasUrls():
            event.acceptProposedAction()

    def dropEvent(self, event) -> None:
        paths = [u.toLocalFile() for u in event.mimeData().urls() if u.isLocalFile()]
        if paths:
            event.acceptProposedAction()
            self.add_photos(paths)

    # -- checkpoints --------------------------------------------------------------------------------------
    def load_checkpoint(self, path) -> bool:
        if self.bridge.session is None:
            self.warn("Load model", "Open a dataset first.")
            return False
        if self.bridge.busy:
            self.warn("Load model", "Wait for the running job to finish (or cancel it) first.")
            return False
        return self.bridge.load_checkpoint(path)

    @Slot()
    def fill_shipped_menu(self) -> None:
        """The models in ``trained/`` (made for the built-in birds; others refuse them with the reason)."""
        menu = self.shipped_menu
        menu.clear()
        paths = shipped_checkpoints()
        if not paths:
            menu.addAction("(none in trained/)").setEnabled(False)
        for path in paths:
            action = menu.addAction(path.stem.replace("_builtin", "").upper())
            action.setData(str(path))
            action.setToolTip(str(path))
            # GUI-thread signal to a GUI-thread callable: a closure is safe here (unlike worker signals)
            action.triggered.connect(lambda checked=False, p=str(path): self.load_checkpoint(p))

    def model_folder(self) -> str:
        """Where the model dialogs open: the folder last used, else the user's trained models, else the shipped ones."""
        from zsl_desktop.engine.paths import data_dir

        user = data_dir() / "checkpoints"
        shipped = shipped_checkpoint().parent
        default = user if any(user.glob("*.pt")) or not shipped.is_dir() else shipped
        return self.settings.last_dir("checkpoints", default)

    @Slot()
    def load_checkpoint_dialog(self) -> None:
        path, _ = QFileDialog.getOpenFileName(self, "Load model", self.model_folder(), "Models (*.pt);;All files (*)")
        if path:
            self.settings.set_last_dir("checkpoints", path)
            self.load_checkpoint(path)

    @Slot()
    def save_checkpoint_dialog(self) -> None:
        if self.controller.model is None:
            self.warn("Save model", "There is no model to save yet.")
            return
        from zsl_desktop.engine.training import default_checkpoint_path

        name = default_checkpoint_path(self.controller.dataset, self.controller.model.method, Path(".")).name
        path, _ = QFileDialog.getSaveFileName(
            self, "Save model", str(Path(self.model_folder()) / name), "Models (*.pt)"
        )
        if path:
            self.settings.set_last_dir("checkpoints", path)
            self.bridge.save_checkpoint(path)

    # -- exports ----------------------------------------------------------------------------------------------
    def _ask_path(self, title: str, name: str, filters: str) -> str:
        path, _ = QFileDialog.getSaveFileName(self, title, str(Path(self.settings.last_dir("exports")) / name), filters)
        if path:
            self.settings.set_last_dir("exports", path)
        return path

    def export_plot_to(self, plot_item, path) -> Path:
        out = export.export_plot(plot_item, path)
        self.show_status(f"Exported {out}")
        return out

    def export_plot_dialog(self, plot_item, title: str, name: str) -> None:
        path = self._ask_path(f"Export the {title} plot", name, export.PLOT_FILTER)
        if path:
            self._guard(self.export_plot_to, plot_item, path)

    @Slot(str)
    def export_training_plot(self, which: str) -> None:
        """One plot of the Training panel, the one named (not whichever sub-tab happens to be on show)."""
        self.export_plot_dialog(self.training.plot_item(which), self.training.plot_title(which), f"{which}.png")

    def export_loss_plot(self) -> None:
        self.export_training_plot("loss")

    def export_validation_plot(self) -> None:
        self.export_training_plot("validation")

    def export_evaluation_plot(self) -> None:
        self.export_training_plot("evaluation")

    @Slot()
    def export_feature_plot(self) -> None:
        self.export_plot_dialog(self.features.plot_item(), "feature space", "feature_space.png")

    def export_overlay_dialog(self) -> None:
        if not self.image_view.has_image:
            self.warn("Export", "Select an image first.")
            return
        path = self._ask_path("Export overlay", self.image_view.suggested_file_name(), "PNG image (*.png)")
        if path:
            self._guard(self.image_view.export_png, path)

    def export_bars_dialog(self) -> None:
        path = self._ask_path("Export predictions chart", "predictions.png", export.PLOT_FILTER)
        if path:
            self._guard(self.predictions.export_chart, path)

    def export_predictions_dialog(self) -> None:
        ranking = self.predictions.ranking()
        if ranking is None:
            self.warn("Export", "There are no predictions to export yet.")
            return
        path = self._ask_path("Export predictions", "predictions.csv", "CSV (*.csv)")
        if path:
            meta = {
                "image": self.predictions.item_name,
                "gamma": f"{self.predictions.gamma:+.4f}",
                "model": self.controller.model.source if self.controller.model else "",
            }
            self._guard(export.predictions_csv, ranking, path, meta)

    def export_all_predictions_dialog(self) -> None:
        rows = self.controller.gallery_predictions()
        if not rows:
            self.warn("Export", "There are no predictions to export yet.")
            return
        path = self._ask_path("Export predictions for every image", "all_predictions.csv", "CSV (*.csv)")
        if path:
            meta = {"dataset": self.controller.dataset.name, "gamma": f"{self.predictions.gamma:+.4f}"}
            self._guard(export.all_predictions_csv, rows, path, meta)

    def _guard(self, fn, *args):
        try:
            out = fn(*args)
        except (OSError, ValueError) as exc:
            self.warn("Export failed", str(exc))
            return None
        self.show_status(f"Exported {out}")
        return out

    # -- help ---------------------------------------------------------------------------------------------
    @Slot()
    def open_log_file(self) -> None:
        """Help ▸ Open log file: the rotating log (warnings, job tracebacks) in the system's text viewer."""
        from PySide6.QtCore import QUrl
        from PySide6.QtGui import QDesktopServices

        from zsl_desktop.engine.logs import log_path

        path = log_path()
        if not path.exists():
            QMessageBox.information(
                self, "Log file", f"Nothing has been logged yet. The log will be written to\n{path}"
            )
        elif not QDesktopServices.openUrl(QUrl.fromLocalFile(str(path))):
            QMessageBox.information(self, "Log file", f"The log file is\n{path}")
